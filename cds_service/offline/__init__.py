"""The pipeline run in-process from files: scenarios, patient export Bundles, cards as HTML, the review report."""
