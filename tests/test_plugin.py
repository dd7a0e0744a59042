"""The pytest plugin seen from a user's suite (pytester runs a throw-away suite).

The throw-away suites run in this process (`runpytest_inprocess`: the plugin is loaded through its
`pytest11` entry point all the same, by the inner run's own plugin manager); one run in a fresh
interpreter checks the entry point there. pytester forgets the modules first imported during a
test, so the frameworks and the modules of a comparison are imported before it (`imported`):
torch, for one, cannot be imported twice in a process."""
import pytest

pytest_plugins = ["pytester"]
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def imported():
    """Everything a comparison with torch imports (the backends, torch's optimizer machinery and
    the failure message), imported by one tiny comparison before pytester takes its snapshot."""
    import comparisons
    import comparisons.testing  # noqa: F401 - the failure message of assert_parity

    comparisons.run("xor-sigmoid-sgd", backends=["scratchnet", "torch"], mode="anchored", steps=1)


def test_failing_parity_assertion_explains_itself(imported, pytester):
    pytester.makepyfile(
        """
        import reference
        from reference.scratchnet_backend import ScratchnetBackend

        class Halved(ScratchnetBackend):
            def step(self, X, y):
                record = super().step(X, y)
                record.grads["dense_0.b"] = record.grads["dense_0.b"] / 2
                return record

        def test_user_suite(assert_parity, monkeypatch):
            create = reference.create
            monkeypatch.setattr(reference, "create",
                lambda n, p, c=None: Halved(p, c or "torch") if n == "scratchnet" else create(n, p, c))
            assert_parity("xor-sigmoid-sgd", backends=["scratchnet", "torch"], mode="anchored", steps=4)
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*First divergence at step 0: scratchnet vs torch, grad dense_0.b at index (*",
        "*scratchnet: *", "*torch: *", "*absolute error * > allowed * (rtol=1e-12, atol=1e-15)*",
    ])


def test_marker_option_and_parametrization(imported, pytester):
    pytester.makepyfile(
        """
        import pytest
        from comparisons.pytest_plugin import parametrize_catalog

        @pytest.mark.parity
        @parametrize_catalog(names=["and-single-neuron"])
        def test_catalog(parity_run, scenario):
            assert parity_run(scenario, backends=["scratchnet", "torch"], steps=3).passed
        """
    )
    result = pytester.runpytest_inprocess("--strict-markers", "-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_catalog?and-single-neuron?*PASSED*"])


def test_a_fresh_interpreter_loads_the_plugin_through_its_entry_point(pytester):
    assert "--parity-report" in "\n".join(pytester.runpytest_subprocess("--help").outlines)
