"""Real public from-scratch code (or faithful re-implementations where no licence allows a copy),
each file with its source and licence in its header; `harness` loads a file with one bug injected
by exact text replacement and adapts it to the doctor."""
