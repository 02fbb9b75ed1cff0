"""Facts from validated FHIR, the rules over them, cards from the rules' intents; invocation runs the line."""
