"""cs231n-style layer functions for the layer doctor: `correct` (naive loops, as the assignment
writes them) and `broken` (one classic mistake each, with the kind the doctor must name)."""
