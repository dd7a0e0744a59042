"""Andrew Ng's Machine Learning ex4 (``nnCostFunction.m``) as people port it to NumPy.

Re-implementation, not a copy: the public NumPy ports found (e.g. the ``ex4-py`` folders of
coursera-machine-learning forks) carry no licence, so this file rewrites the same algorithm in the
same style: the parameters unrolled into one vector ``nn_params`` (Theta1 then Theta2, each
(out, in + 1) with the bias column first, fed by +1), labels y in 1..K (a column vector (m, 1), as
ex4data1.mat holds them), per-sample backprop accumulating Delta, the logistic cost summed over the
K outputs and averaged over m, and the regularisation ``lambda / (2 m) * sum(Theta[:, 1:]**2)``
(the bias column is not regularised), with the gradient unrolled the same way.
"""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoidGradient(z):
    g = sigmoid(z)
    return g * (1 - g)


def randInitializeWeights(L_in, L_out, epsilon_init=0.12, rng=np.random):
    return rng.rand(L_out, 1 + L_in) * 2 * epsilon_init - epsilon_init


def nnCostFunction(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_):
    Theta1 = nn_params[:hidden_layer_size * (input_layer_size + 1)].reshape(hidden_layer_size, input_layer_size + 1)
    Theta2 = nn_params[hidden_layer_size * (input_layer_size + 1):].reshape(num_labels, hidden_layer_size + 1)
    m = X.shape[0]

    # Part 1: feedforward and cost
    a1 = np.concatenate([np.ones((m, 1)), X], axis=1)
    z2 = a1.dot(Theta1.T)
    a2 = np.concatenate([np.ones((m, 1)), sigmoid(z2)], axis=1)
    z3 = a2.dot(Theta2.T)
    a3 = sigmoid(z3)
    y_matrix = np.eye(num_labels)[y.ravel() - 1]
    J = np.sum(-y_matrix * np.log(a3) - (1 - y_matrix) * np.log(1 - a3)) / m
    J += lambda_ / (2 * m) * (np.sum(Theta1[:, 1:] ** 2) + np.sum(Theta2[:, 1:] ** 2))

    # Part 2: backpropagation, one example at a time
    Delta1 = np.zeros(Theta1.shape)
    Delta2 = np.zeros(Theta2.shape)
    for t in range(m):
        d3 = a3[t] - y_matrix[t]
        d2 = Theta2[:, 1:].T.dot(d3) * sigmoidGradient(z2[t])
        Delta2 += np.outer(d3, a2[t])
        Delta1 += np.outer(d2, a1[t])
    Theta1_grad = Delta1 / m
    Theta2_grad = Delta2 / m

    # Part 3: regularisation, without the bias column
    Theta1_grad[:, 1:] += lambda_ / m * Theta1[:, 1:]
    Theta2_grad[:, 1:] += lambda_ / m * Theta2[:, 1:]

    grad = np.concatenate([Theta1_grad.ravel(), Theta2_grad.ravel()])
    return J, grad
