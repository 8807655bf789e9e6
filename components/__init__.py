"""Pulumi ComponentResources of Minnova IDP."""
