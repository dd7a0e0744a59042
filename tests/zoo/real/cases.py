"""The issue-12 cases on real code: each builds (spec, params, X, y, doctor kwargs) with one bug
injected into a file of tests/zoo/real/ (see `harness.load`). tests/test_doctor_real_code.py
holds the expected verdicts."""
from __future__ import annotations


from comparisons.doctor import NetSpec
from . import harness as h

REG = 0.05          # cs231n's toy-model regularisation strength
NIELSEN_ETA = 0.5
NIELSEN_LMBDA, NIELSEN_N = 5.0, 1000   # network2: lmbda and the training-set size n
NG_LAMBDA = 1.0


# --- Nielsen network.py: quadratic cost, update_mini_batch, samples as columns ---------------------

def nielsen_spec(**overrides):
    fields = dict(sizes=[4, 6, 10], activations=["sigmoid", "sigmoid"], loss="squared_error",
                  reduction="batch_mean", scale=0.5)
    return NetSpec(**{**fields, **overrides})


def nielsen(*edits, spec=None):
    module = h.load("nielsen_network", *edits)
    params, X, Y = h.nielsen_point()
    return (spec or nielsen_spec(), params, X, Y,
            dict(mapping=h.NIELSEN_MAPPING, samples_as_columns=True, step_fn=h.nielsen_step(module), lr=NIELSEN_ETA))


PER_SAMPLE_UPDATE = ("""            nabla_b = [nb+dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw+dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [w-(eta/len(mini_batch))*nw
                        for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b-(eta/len(mini_batch))*nb
                       for b, nb in zip(self.biases, nabla_b)]""",
                     """            self.weights = [w-(eta/len(mini_batch))*nw
                            for w, nw in zip(self.weights, delta_nabla_w)]
            self.biases = [b-(eta/len(mini_batch))*nb
                           for b, nb in zip(self.biases, delta_nabla_b)]""")


def nielsen_raw_backprop():
    """grad_fn returning backprop's raw (nabla_b, nabla_w) on the whole batch (columns)."""
    module = h.load("nielsen_network")
    params, X, Y = h.nielsen_point()

    def backprop(params, X, Y):
        return h.nielsen_net(module, params).backprop(X, Y)
    return nielsen_spec(), params, X, Y, dict(mapping=h.NIELSEN_MAPPING, samples_as_columns=True, grad_fn=backprop)


# --- Nielsen network2.py: cross-entropy, L2 weight decay (1 - eta lmbda / n) w ---------------------

def nielsen2_spec(**overrides):
    fields = dict(sizes=[4, 6, 10], activations=["sigmoid", "sigmoid"], loss="binary_cross_entropy",
                  reduction="batch_mean", l2=NIELSEN_LMBDA / (2 * NIELSEN_N))
    return NetSpec(**{**fields, **overrides})


def nielsen2(*edits, spec=None, m=20):
    module = h.load("nielsen_network2", *edits)
    params, X, Y = h.nielsen_point(m=m)
    step = h.nielsen_step(module, update_kwargs={"lmbda": NIELSEN_LMBDA, "n": NIELSEN_N})
    return (spec or nielsen2_spec(), params, X, Y,
            dict(mapping=h.NIELSEN_MAPPING, samples_as_columns=True, step_fn=step, lr=NIELSEN_ETA))


ETA_NOT_OVER_M = ("(eta/len(mini_batch))*n", "eta*n")
DECAY_ON_BIASES = ("self.biases = [b-(eta/len(mini_batch))*nb", "self.biases = [(1-eta*(lmbda/n))*b-(eta/len(mini_batch))*nb")


# --- cs231n TwoLayerNet.loss(X, y, reg) --------------------------------------------------------------

def cs231n(stem, *edits, l2=None, std=1e-4):
    module = h.load(stem, *edits)
    params, X, y = h.cs231n_point(module, std=std)
    declared = (REG if stem == "cs231n_two_layer_reg" else 0.5 * REG) if l2 is None else l2
    return h.cs231n_spec(declared), params, X, y, dict(mapping=h.CS231N_MAPPING, grad_fn=h.cs231n_grad_fn(module, REG))


HALF, FULL = "cs231n_two_layer_half_reg", "cs231n_two_layer_reg"
SIGN_FLIPPED_DATA = ("dscores /= N", "dscores /= -N")
MISSING_ONE_OVER_M = ("        dscores /= N\n", "")
DOUBLE_DECAY = ("+= reg * W", "+= 2 * reg * W")
DECAY_WRONG_SIGN = ("+ 2 * reg * W", "- 2 * reg * W")
DECAY_ON_CS231N_BIASES = ("        return loss, grads", "        grads['b1'] += 2 * reg * b1\n        grads['b2'] += 2 * reg * b2\n"
                          "        return loss, grads")
B1_LEFT_AT_ZEROS = ("grads['b1'] = np.sum(dhidden, axis=0)", "grads['b1'] = np.zeros_like(b1)")
RELU_MASK_FROM_GRADIENT = ("dhidden[hidden_linear <= 0] = 0", "dhidden[dhidden <= 0] = 0")


# --- Ng ex4 nnCostFunction -------------------------------------------------------------------------

def ng_spec(**overrides):
    fields = dict(sizes=list(h.NG_SIZES), activations=["sigmoid", "sigmoid"], loss="binary_cross_entropy",
                  reduction="batch_mean", l2=NG_LAMBDA, l2_per="2m")
    return NetSpec(**{**fields, **overrides})


def ng(*edits, labels="one_based", spec=None, targets=None):
    """`targets`: how y is handed over (default: labels 1..K as a column (m, 1), as ex4data1.mat)."""
    module = h.load("ng_ex4", *edits)
    params, X, y = h.ng_point()
    y = y if targets is None else targets(y)
    kwargs = dict(mapping=h.NG_MAPPING, grad_fn=h.ng_grad_fn(module, NG_LAMBDA))
    if labels is not None:
        kwargs["labels"] = labels
    return spec or ng_spec(), params, X, y, kwargs


THETA1_UNROLLED_COLUMN_MAJOR = ("grad = np.concatenate([Theta1_grad.ravel(), ", "grad = np.concatenate([Theta1_grad.ravel(order='F'), ")
L2_ON_BIAS_COLUMNS = [("Theta1_grad[:, 1:] += lambda_ / m * Theta1[:, 1:]", "Theta1_grad += lambda_ / m * Theta1"),
                      ("Theta2_grad[:, 1:] += lambda_ / m * Theta2[:, 1:]", "Theta2_grad += lambda_ / m * Theta2")]
BIAS_COLUMN_ZEROED = ("    # Part 3: regularisation", "    Theta1_grad[:, 0] = 0\n    Theta2_grad[:, 0] = 0\n    # Part 3: regularisation")
NG_MISSING_ONE_OVER_M = [("Theta1_grad = Delta1 / m", "Theta1_grad = Delta1"), ("Theta2_grad = Delta2 / m", "Theta2_grad = Delta2")]
ZERO_BASED_LABELS = ("np.eye(num_labels)[y.ravel() - 1]", "np.eye(num_labels)[y.ravel()]")
ONE_HOT_TARGETS = ("np.eye(num_labels)[y.ravel() - 1]", "y")
