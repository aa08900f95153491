"""``python3 -m wordstats FILE``: print the top words and the reading time of a text file."""

from __future__ import annotations

import sys

from wordstats import reading_time_s, top_words


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 -m wordstats FILE", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as handle:
        text = handle.read()
    for word, count in top_words(text, 5):
        print(f"{count:5d}  {word}")
    print(f"reading time: {reading_time_s(text)}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
