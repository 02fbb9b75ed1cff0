"""eGFR from serum creatinine by the CKD-EPI 2021 equation (race-free), for records that send creatinine only.

eGFRcr = 142 x min(Scr/k, 1)^a x max(Scr/k, 1)^-1.200 x 0.9938^age x 1.012 [if female], Scr in mg/dL;
k = 0.7 (female) / 0.9 (male), a = -0.241 (female) / -0.302 (male). Inker LA et al., N Engl J Med
2021;385:1737-49, as published by the National Kidney Foundation (kidney.org, "CKD-EPI Creatinine Equation
(2021)"). Validated in adults only (NIDDK): below 18 years nothing is computed. The coefficients live in
rules/valuesets/labs.yaml (`egfr_from_creatinine`) with their citation.
"""

from __future__ import annotations

from typing import Any

UMOL_PER_MG_DL = 88.4  # creatinine mg/dL x 88.4 = µmol/L (clinical-reference b.2)


def ckd_epi_2021(creatinine_umol_l: float, age_years: float, sex: str, coefficients: Any) -> float:
    """The eGFR in mL/min/1.73 m² from creatinine in µmol/L, age in years and sex ('female' or 'male')."""
    scr = creatinine_umol_l / UMOL_PER_MG_DL
    kappa = coefficients.kappa[sex]
    alpha = coefficients.alpha[sex]
    ratio = scr / kappa
    egfr = (
        coefficients.constant
        * min(ratio, 1.0) ** alpha
        * max(ratio, 1.0) ** coefficients.upper_exponent
        * coefficients.age_base**age_years
    )
    return float(egfr * (coefficients.female_factor if sex == "female" else 1.0))
