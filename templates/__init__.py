"""Page templates, shipped inside the package as oidc_provider.templates."""
