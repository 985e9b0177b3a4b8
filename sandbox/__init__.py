"""Controlled execution of participants' bundles (Kubernetes manifests) in a sandbox the platform owns."""
