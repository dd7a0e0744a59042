"""The backprop doctor: what is wrong with a hand-written backprop, and where.

    from comparisons.doctor import diagnose, NetSpec, Weight, Bias, AugmentedWeight

    spec = NetSpec(sizes=[4, 5, 3], activations=["sigmoid", "softmax"],
                   loss="categorical_cross_entropy", reduction="batch_mean")
    mapping = {"W1": Weight(0, layout="out_in"), "b1": Bias(0),
               "Theta2": AugmentedWeight(1, layout="out_in", bias_position="first", bias_input=1.0)}
    result = diagnose(spec, params, X, y, mapping=mapping, grad_fn=loss_and_grads)
    result = diagnose(spec, params, X, y, mapping=mapping, step_fn=train_step, lr=0.1)
    result.ok, result.culprit, result.findings; print(result); result.to_dict()

The user's weights are loaded into the declared network in float64; torch autograd gives the
reference (scratchnet's exact backprop where torch is absent). A network of layers (conv,
pooling, batch norm; a description with ``layers``) is diagnosed by `comparisons.doctor.layered`
with `Param` placements. Each user parameter gets one
`Finding` whose kind is ok, sign_flipped, scaled, transposed, zero, stateful, shape_mismatch or
wrong, with the evidence. `diagnose_file` does the same for a function in a .py file and a TOML
spec (what the CLI calls).
"""
from comparisons.doctor.diagnose import diagnose
from comparisons.doctor.files import diagnose_file, load_spec_file
from comparisons.doctor.layered import Param
from comparisons.doctor.layout import AugmentedWeight, Bias, Weight
from comparisons.doctor.layers import LayerCheckResult, LayerFinding, check_layer  # noqa: F401 (layer-level check)
from comparisons.doctor.result import KINDS, DiagnosisResult, Finding, ProbeResult
from comparisons.doctor.spec import DoctorInputError, NetSpec
from comparisons.doctor.usercode import UserCodeFailure

__all__ = [
    "diagnose", "diagnose_file", "load_spec_file", "NetSpec", "Weight", "Bias", "AugmentedWeight", "Param",
    "DiagnosisResult", "Finding", "ProbeResult", "UserCodeFailure", "DoctorInputError", "KINDS",
]
