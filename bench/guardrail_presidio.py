"""Presidio's AnalyzerEngine with pattern recognizers only: the baseline for guardrail figures.

No NER model can be downloaded here, so the NLP engine is a blank spaCy pipeline
(tokens, no entities, no lemmas); every recognizer that covers an entity agentbus also
detects is registered for English, phones with the same regions agentbus's policy uses.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SHARED_ENTITIES", "presidio_analyzer"]

SHARED_ENTITIES = (
    "EMAIL_ADDRESS",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "PHONE_NUMBER",
    "IP_ADDRESS",
    "CRYPTO",
    "US_ITIN",
    "ES_NIF",
    "IT_FISCAL_CODE",
    "PL_PESEL",
    "IN_AADHAAR",
    "IN_PAN",
    "AU_ABN",
    "AU_TFN",
    "FI_PERSONAL_IDENTITY_CODE",
)


def presidio_analyzer(phone_regions: tuple[str, ...]) -> Any:
    """An AnalyzerEngine on a blank spaCy pipeline with the shared pattern recognizers."""
    import spacy
    import tldextract.tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer import predefined_recognizers as p
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class BlankSpacyEngine(SpacyNlpEngine):  # type: ignore[misc]
        """spaCy without a trained model: tokenisation only."""

        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}

    # Presidio's e-mail check asks tldextract, which would fetch the public suffix list:
    # offline, use the snapshot it ships.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())
    engine = BlankSpacyEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.load()
    recognizers = [
        p.CreditCardRecognizer(),
        p.CryptoRecognizer(),
        p.EmailRecognizer(),
        p.IbanRecognizer(),
        p.IpRecognizer(),
        p.PhoneRecognizer(supported_regions=list(phone_regions)),
        p.UsSsnRecognizer(),
        p.UsItinRecognizer(),
        p.EsNifRecognizer(supported_language="en"),
        p.ItFiscalCodeRecognizer(supported_language="en"),
        p.PlPeselRecognizer(supported_language="en"),
        p.InAadhaarRecognizer(),
        p.InPanRecognizer(),
        p.AuAbnRecognizer(),
        p.AuTfnRecognizer(),
        p.FiPersonalIdentityCodeRecognizer(supported_language="en"),
    ]
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=["en"])
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])
