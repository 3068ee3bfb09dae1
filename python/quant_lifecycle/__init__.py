"""The quant team's lifecycle steps that consumers run, from a notebook or a terminal alike: `validate` scores a
registered model version on a historical sample and records the evidence as one MLflow run; `sign_off` raises
the consumer's transition request naming that run. See validation.py for the notebook cells."""
from .signoff import SignOffError, sign_off, sign_off_comment
from .validation import TAG, ValidationInputError, manifest, manifest_digest, validate

__all__ = ["TAG", "SignOffError", "ValidationInputError", "manifest", "manifest_digest", "sign_off", "sign_off_comment", "validate"]
