"""A cs231n assignment-1 ``TwoLayerNet`` solution in the form with ``reg * sum(W**2)``.

Re-implementation, not a copy: the public solutions found (many cs231n forks of
``assignment1/cs231n/classifiers/neural_net.py``) carry no licence, so this file rewrites the
same algorithm in the same style: params in a dict, W1 (D, H), b1 (H,), W2 (H, C), b2 (C,),
weights drawn with std 1e-4 and zero biases (the assignment's ``__init__``), ReLU then softmax,
integer labels 0..C-1, the data loss averaged over N, and the newer (2017+) course convention
``loss += reg * (sum(W1 * W1) + sum(W2 * W2))`` with ``+ 2 * reg * W`` in each weight gradient.
"""
import numpy as np


class TwoLayerNet(object):

    def __init__(self, input_size, hidden_size, output_size, std=1e-4, seed=0):
        rng = np.random.RandomState(seed)
        self.params = {}
        self.params['W1'] = std * rng.randn(input_size, hidden_size)
        self.params['b1'] = np.zeros(hidden_size)
        self.params['W2'] = std * rng.randn(hidden_size, output_size)
        self.params['b2'] = np.zeros(output_size)

    def loss(self, X, y=None, reg=0.0):
        W1, b1 = self.params['W1'], self.params['b1']
        W2, b2 = self.params['W2'], self.params['b2']
        N, D = X.shape

        hidden_linear = X.dot(W1) + b1
        hidden = np.maximum(0, hidden_linear)
        scores = hidden.dot(W2) + b2
        if y is None:
            return scores

        shifted_scores = scores - np.max(scores, axis=1, keepdims=True)
        exp_scores = np.exp(shifted_scores)
        probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
        correct_log_probs = -np.log(probs[np.arange(N), y])
        loss = np.sum(correct_log_probs) / N
        loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

        grads = {}
        dscores = probs.copy()
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads['W2'] = hidden.T.dot(dscores) + 2 * reg * W2
        grads['b2'] = np.sum(dscores, axis=0)
        dhidden = dscores.dot(W2.T)
        dhidden[hidden_linear <= 0] = 0
        grads['W1'] = X.T.dot(dhidden) + 2 * reg * W1
        grads['b1'] = np.sum(dhidden, axis=0)
        return loss, grads
