"""GigaTok (1D visual tokenizer) and its LlamaGen-style AR generator in PyTorch, with ONNX export."""
