"""The CDS Hooks protocol: wire models, service discovery and prefetch templates, client authentication."""
