"""vitdmg-cds: a CDS Hooks 2.0 service for vitamin D and magnesium."""

__version__ = "0.1.0"
