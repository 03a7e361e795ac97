# tests/test_config_docs.py: docs/config.md names every key of the "train" object, every optimizer and every schedule.
"""The lists are read from src/io/train_config.c (the tables the config reader checks keys against), so a key added
to the reader and not to the documentation fails here."""
import os
import re
import sys

SOURCE = os.environ.get("TFM_SOURCE") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def c_strings(text, name):
    match = re.search(r"\b" + name + r"\[\]\s*=\s*\{(.*?)\};", text, re.S)
    if not match:
        raise SystemExit(f"src/io/train_config.c: no table {name}")
    return re.findall(r'"([^"]+)"', match.group(1))


def main():
    with open(os.path.join(SOURCE, "src", "io", "train_config.c")) as f:
        reader = f.read()
    with open(os.path.join(SOURCE, "docs", "config.md")) as f:
        documented = set(re.findall(r"`([^`]+)`", f.read()))
    tables = ["loop_keys", "gpt_keys", "seq2seq_keys", "bert_keys", "tfm_optimizer_names", "tfm_schedule_names", "objective_names"]
    missing, total = [], 0
    for table in tables:
        for key in c_strings(reader, table):
            total += 1
            if key not in documented and f'"{key}"' not in documented:
                missing.append(f"{table}: {key}")
    if total < 60:
        raise SystemExit(f"read only {total} names from src/io/train_config.c: the tables moved?")
    if missing:
        raise SystemExit("docs/config.md does not mention: " + ", ".join(missing))
    print(f"docs/config.md mentions all {total} names of {len(tables)} tables")


if __name__ == "__main__":
    main()
