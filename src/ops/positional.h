/* ops/positional.h: the fixed sinusoidal position table of "Attention Is All You Need" (section 3.5). */
#ifndef TFM_OPS_POSITIONAL_H
#define TFM_OPS_POSITIONAL_H

/* table[pos, C] for pos in [0, rows):
 *   table[pos, 2i]     = sin(pos / 10000^(2i / C))
 *   table[pos, 2i + 1] = cos(pos / 10000^(2i / C))
 * i.e. sine on even and cosine on odd dimensions, interleaved: the paper's formula and the PyTorch
 * "Language Modeling with nn.Transformer" tutorial's PositionalEncoding layout (pe[:, 0::2] = sin,
 * pe[:, 1::2] = cos). fairseq's SinusoidalPositionalEmbedding differs (all sines, then all cosines, and a
 * 1/(half-1) frequency step), so its checkpoints need their table permuted. For odd C the last dimension
 * is a sine. Computed in double and rounded once to float, so every entry is the correctly rounded value of
 * the formula (PyTorch's tutorial computes in float and differs by up to ~1e-4 at positions of a few thousand). */
void tfm_positional_sinusoidal(float *table, int rows, int C);

#endif
