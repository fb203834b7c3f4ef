"""What every user-facing CLI error must look like (shared by the fault suites)."""


def assert_one_error(rc: int, stderr: str, *needles: str) -> str:
    """Exit status 2, no traceback, exactly one line on stderr, an ``error:`` line holding every needle."""
    assert rc == 2, stderr
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]
