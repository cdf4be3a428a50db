"""Baseline for `workbench bench features`: NFStream, the flow-feature tool users pick.

Usage: nfstream_features.py CAPTURE
Reads every packet of CAPTURE into flows with NFStreamer(source=CAPTURE,
statistical_analysis=True) (the post-mortem statistical features: packet sizes, inter-arrival
times, flags, per direction) and consumes every flow. Prints one JSON object: packets (the sum
of the flows' bidirectional_packets), flows, seconds (time inside the process from creating the
streamer to the last flow), nfstream_version. The caller measures the whole process's wall
time and peak RSS (wait4 rusage) around it.
"""
import json
import sys
import time

import nfstream


def main() -> None:
    path = sys.argv[1]
    started = time.perf_counter()
    # Defaults otherwise (meters chosen by NFStream from the CPU count): what a user gets.
    streamer = nfstream.NFStreamer(source=path, statistical_analysis=True)
    flows = 0
    packets = 0
    for flow in streamer:
        flows += 1
        packets += flow.bidirectional_packets
    seconds = time.perf_counter() - started
    print(json.dumps({
        "packets": packets,
        "flows": flows,
        "seconds": seconds,
        "nfstream_version": nfstream.__version__,
    }))


if __name__ == "__main__":
    main()
