"""Python references shared by tests/ and bench/: the PyTorch GPT, a safetensors reader/writer, checkpoint I/O.
Import with the repository's tests/ directory on sys.path: `from torch_reference import gpt, checkpoint`."""
