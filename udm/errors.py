"""The one exception type udm raises for bad input: its message is a single line saying what is wrong and what to do."""


class UdmError(Exception):
    """Bad input or an unusable configuration; the CLI prints ``udm: <message>`` and exits with status 2."""
