"""The sandbox on Kubernetes: a namespace per run, through the official client (docs/cloud.md).

* ``objects``: every object the backend creates for a checked bundle, as
  plain dicts (pure; ``manage.py sandbox_manifests`` prints them);
* ``cluster``: the API calls that create, watch, break and delete them;
* ``runner``: the load generator as a Job in the platform's load namespace;
* ``place``: the engine's place, the same life cycle as the Docker one.
"""
