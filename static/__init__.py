"""Static assets, shipped inside the package as oidc_provider.static."""
