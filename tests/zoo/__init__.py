"""The backprop zoo: hand-written networks, broken and correct, each with its expected diagnosis.

One module per implementation, written the way people write them in questions (loops, classes,
Ng's augmented thetas, Marsland's -1 bias, samples as columns). Each module declares:

    SPEC, MAPPING (None: canonical names), SAMPLES_AS_COLUMNS (optional, default False)
    EXPECTED   {param: kind} for every parameter
    CULPRIT    the expected result.culprit (None when the code is right)
    EVIDENCE   phrases the printed report must contain
    data()            -> params, X, y (fresh arrays)
    doctor_kwargs()   -> {"grad_fn": f} or {"step_fn": f, "lr": lr}, with fresh state

tests/test_doctor_zoo.py loads every module by path and checks the diagnosis exactly.
"""
