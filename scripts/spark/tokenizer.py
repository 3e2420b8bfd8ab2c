"""A small Gemma-style SentencePiece tokenizer for tiny models trained here.

Gemma's conventions: BPE with byte fallback, ids pad 0 / eos 1 / bos 2 / unk 3, no
dummy-prefix space, no normalisation, whitespace kept verbatim, digits split, and the
chat markers <start_of_turn> / <end_of_turn> as user-defined pieces. Writes
`tokenizer.model` (SentencePiece protobuf) into a model folder. (transformers 5's
Gemma converter turns such a small BPE model into a tokenizer.json that maps every
word to <unk>, so no tokenizer.json is written.)
"""
import io
import os


def train(text_lines, folder, vocab_size):
    import sentencepiece as spm
    os.makedirs(folder, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(text_lines), model_writer=model, model_type="bpe",
        vocab_size=vocab_size, byte_fallback=True, split_digits=True,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3,
        pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
        user_defined_symbols=["<start_of_turn>", "<end_of_turn>"],
        add_dummy_prefix=False, remove_extra_whitespaces=False, normalization_rule_name="identity",
        allow_whitespace_only_pieces=True, character_coverage=1.0, num_threads=1,
        minloglevel=2)
    path = os.path.join(folder, "tokenizer.model")
    with open(path, "wb") as f:
        f.write(model.getvalue())
    return path


def load(folder):
    import sentencepiece as spm
    return spm.SentencePieceProcessor(model_file=os.path.join(folder, "tokenizer.model"))
