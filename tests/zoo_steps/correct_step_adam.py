"""Control: update-only code (kind "step") with its own Adam, bias-corrected with the step
counter it advances: the fix of `adam_without_bias_correction`, same network, data and scenario
(torch's convention: eps added after the root of the corrected second moment). No divergence
over 20 steps, anchored and free.
"""
import numpy as np

from . import adam_without_bias_correction


class Adam(adam_without_bias_correction.Adam):
    def update(self, k):
        m_hat = self.m[k] / (1 - self.beta1 ** self.t)
        v_hat = self.v[k] / (1 - self.beta2 ** self.t)
        return m_hat / (np.sqrt(v_hat) + self.eps)


def scenario():
    return adam_without_bias_correction.scenario(Adam, "control-step-adam")
