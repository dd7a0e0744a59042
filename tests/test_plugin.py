"""The pytest plugin seen from a user's suite (pytester runs a throw-away suite)."""
import pytest

pytest_plugins = ["pytester"]
pytest.importorskip("torch")


def test_failing_parity_assertion_explains_itself(pytester):
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
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*First divergence at step 0: scratchnet vs torch, grad dense_0.b at index (*",
        "*scratchnet: *", "*torch: *", "*absolute error * > allowed * (rtol=1e-12, atol=1e-15)*",
    ])


def test_marker_option_and_parametrization(pytester):
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
    result = pytester.runpytest_subprocess("--strict-markers", "-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_catalog?and-single-neuron?*PASSED*"])
    assert "--parity-report" in "\n".join(pytester.runpytest_subprocess("--help").outlines)
