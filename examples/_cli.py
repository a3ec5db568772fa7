"""The examples' command-line pieces: an argparse type that refuses counts the scripts cannot
run with, and the script entry that reports a user's error (no GPU, missing or wrong data
files, a checkpoint that does not fit) as one line instead of a traceback."""
import argparse
import os
import sys

import tvmini as tm


class UsageError(Exception):
    """A problem with what the command line asks for that parsing cannot see (e.g. ``--resume``
    without a checkpoint); ``run`` prints it as an error message."""


def positive_int(text):
    """argparse ``type``: an int of at least 1 (a count of steps, images, threads...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run(main):
    """Call ``main()`` as the script's entry. tvmini's DeviceError (a CUDA device that cannot be
    used; the message then says how to run without a GPU) and DataError, and ``UsageError``,
    end the script with ``<script>: error: <message>`` and exit status 1; any other exception
    keeps its traceback (a bug, not a user error). Called from ``main`` directly (tests, other
    scripts) these errors are raised as usual."""
    prog = os.path.basename(sys.argv[0])
    try:
        return main()
    except tm.DeviceError as err:
        sys.exit(f"{prog}: error: {err}\n(no GPU here? TVMINI_CUDA_BINDING=emulator runs the CUDA kernels "
                 f"on the CPU's emulation of one, slowly)")
    except (tm.DataError, UsageError) as err:
        sys.exit(f"{prog}: error: {err}")
