# tests/test_config_docs.py: docs/config.md names every key of the "train" object, of GPT's and the encoder-decoder's
# "model" objects, every optimizer, schedule, position encoding and norm.
"""The lists are read from the sources (the tables the config readers check keys against), so a key added to a reader
and not to the documentation fails here."""
import os
import re
import sys

SOURCE = os.environ.get("TFM_SOURCE") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


# (source file, table name) pairs; "keys@function" is the table called keys inside that function
TABLES = [("src/io/train_config.c", t) for t in
          ("loop_keys", "gpt_keys", "seq2seq_keys", "bert_keys", "tfm_optimizer_names", "tfm_schedule_names", "objective_names")]
TABLES += [("src/io/config.c", "keys@read_model_section"), ("src/io/config.c", "tfm_norm_names"),
           ("src/models/seq2seq_config.c", "keys@tfm_seq2seq_config_read_object"),
           ("src/io/positions.c", "tfm_position_names")]


def c_strings(text, path, name):
    table, _, function = name.partition("@")
    if function:
        start = text.find(function + "(")
        text = text[start:] if start >= 0 else ""
    match = re.search(r"\b" + table + r"\[\]\s*=\s*\{(.*?)\};", text, re.S)
    if not match:
        raise SystemExit(f"{path}: no table {name}")
    return re.findall(r'"([^"]+)"', match.group(1))


def main():
    with open(os.path.join(SOURCE, "docs", "config.md")) as f:
        documented = set(re.findall(r"`([^`]+)`", f.read()))
    missing, total = [], 0
    for path, table in TABLES:
        with open(os.path.join(SOURCE, path)) as f:
            text = f.read()
        for key in c_strings(text, path, table):
            total += 1
            if key not in documented and f'"{key}"' not in documented:
                missing.append(f"{path} {table}: {key}")
    if total < 110:
        raise SystemExit(f"read only {total} names from the sources: the tables moved?")
    if missing:
        raise SystemExit("docs/config.md does not mention: " + ", ".join(missing))
    print(f"docs/config.md mentions all {total} names of {len(TABLES)} tables")


if __name__ == "__main__":
    main()
