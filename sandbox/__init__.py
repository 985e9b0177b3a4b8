"""Controlled execution of participants' bundles (Kubernetes manifests): parsing and policy so far."""
