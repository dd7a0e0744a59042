"""A cs231n assignment-1 ``TwoLayerNet`` solution in the form with ``0.5 * reg * sum(W**2)``.

Re-implementation, not a copy: the public solutions found (many cs231n forks of
``assignment1/cs231n/classifiers/neural_net.py``) carry no licence, so this file rewrites the
same algorithm in the same style: params in a dict, W1 (D, H), b1 (H,), W2 (H, C), b2 (C,),
weights drawn with std 1e-4 and zero biases (the assignment's ``__init__``), ReLU then softmax,
integer labels 0..C-1, the data loss averaged over N, and the older (2016) course convention
``loss += 0.5 * reg * (sum(W1**2) + sum(W2**2))`` with ``dW += reg * W``.
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

        # forward pass
        h1 = np.maximum(0, X.dot(W1) + b1)
        scores = h1.dot(W2) + b2
        if y is None:
            return scores

        # softmax loss
        shifted = scores - np.max(scores, axis=1, keepdims=True)
        probs = np.exp(shifted)
        probs /= np.sum(probs, axis=1, keepdims=True)
        data_loss = -np.sum(np.log(probs[np.arange(N), y])) / N
        reg_loss = 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        loss = data_loss + reg_loss

        # backward pass
        grads = {}
        dscores = probs.copy()
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads['W2'] = h1.T.dot(dscores)
        grads['b2'] = np.sum(dscores, axis=0)
        dh1 = dscores.dot(W2.T)
        dh1[h1 <= 0] = 0
        grads['W1'] = X.T.dot(dh1)
        grads['b1'] = np.sum(dh1, axis=0)
        grads['W2'] += reg * W2
        grads['W1'] += reg * W1
        return loss, grads
