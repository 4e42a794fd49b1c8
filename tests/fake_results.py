"""The provenance a results file carries, made up for tests of the text a benchmark generates."""


def fake_provenance(command: str, settings: dict) -> dict:
    """A results file's ``provenance`` for a made-up run of ``command`` with ``settings``."""
    return {
        "commit": "0123456789abcdef",
        "dirty": False,
        "date": "2025-01-01T00:00:00+00:00",
        "versions": {"python": "3.11", "torch": "2.x"},
        "machine": {"cpu": "a CPU", "cores": 2, "torch_threads": 2},
        "command": command,
        "settings": settings,
    }
