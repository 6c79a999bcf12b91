"""statsmodels' Bayesian binomial mixed GLM on counted cells: the model behind the MRP estimates (`mrp`).

Kept apart from `mrp` because statsmodels and SciPy take a second or two to
import: `mrp.estimate` loads this module at its first fit, so commands that
never fit (`poll invite`, `poll sms queue`) do not pay for them.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from statsmodels.genmod import families
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM, _BayesMixedGLM


class CountedBinomialMixedGLM(BinomialBayesMixedGLM):
    """statsmodels' Bayesian binomial mixed GLM on counted cells: `endog` is the number of successes of each row,
    `trials` its number of answers. Only the variational Bayes fit (`fit_vb`) is supported. The priors' defaults
    are the library's own (`mrp` states the ones it uses)."""

    def __init__(self, successes, trials, exog, exog_vc, ident, *, vcp_p=1.0, fe_p=2.0,
                 fep_names=None, vcp_names=None, vc_names=None):
        # The parent's constructor insists on 0/1 rows; the model itself is its grandparent's.
        _BayesMixedGLM.__init__(self, np.asarray(successes, dtype=float), exog, exog_vc=exog_vc, ident=ident,
                                family=families.Binomial(), vcp_p=vcp_p, fe_p=fe_p, fep_names=fep_names,
                                vcp_names=vcp_names, vc_names=vc_names)
        self.trials = np.asarray(trials, dtype=float)
        # A few hundred cells by 18 governorates is small: held dense, the gradient's products cost microseconds
        # where the library's sparse ones cost a millisecond each (a fit: 2 s against 0.1 s).
        self.exog_vc = self.exog_vc.toarray().view(_Dense)
        self.exog_vc2 = self.exog_vc2.toarray().view(_Dense)

    def vb_elbo(self, vb_mean, vb_sd):
        """The ELBO with each row's log(1 + e^lp) counted once per answer."""
        fep_mean, vcp_mean, vc_mean = self._unpack(vb_mean)
        fep_sd, vcp_sd, vc_sd = self._unpack(vb_sd)
        tm, tv = self._lp_stats(fep_mean, fep_sd, vc_mean, vc_sd)

        def h(z):
            return -self.trials * np.logaddexp(0, tm + np.sqrt(tv) * z)

        return self.vb_elbo_base(h, tm, fep_mean, vcp_mean, vc_mean, fep_sd, vcp_sd, vc_sd)

    def vb_elbo_grad(self, vb_mean, vb_sd):
        """The ELBO's gradient, each row counted once per answer."""
        fep_mean, vcp_mean, vc_mean = self._unpack(vb_mean)
        fep_sd, vcp_sd, vc_sd = self._unpack(vb_sd)
        tm, tv = self._lp_stats(fep_mean, fep_sd, vc_mean, vc_sd)

        def h(z):
            return -self.trials * expit(tm + np.sqrt(tv) * z)

        return self.vb_elbo_grad_base(h, tm, tv, fep_mean, vcp_mean, vc_mean, fep_sd, vcp_sd, vc_sd)


class _Dense(np.ndarray):
    """A dense matrix with the one method of scipy's sparse arrays that the library's fit calls and NumPy lacks."""

    def multiply(self, other):
        return np.multiply(self, other)
