// Binding 1 of a dense-weight kernel (matvec, matmul, embedding): one chunk of a GpuWeight and the accessors
// quant.wgsl asks for. vec4 loads where the type's blocks are 16-byte aligned (W_VEC4), u32 otherwise.
#ifdef W_VEC4
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;   // (n_rows, row_words / 4)
fn qw_load(i: u32) -> u32 {
  return w[i >> 2u][i & 3u];
}
fn qw_load4(i: u32) -> vec4<u32> {
  return w[i >> 2u];
}
#else
@group(0) @binding(1) var<storage, read> w: array<u32>;         // (n_rows, row_words)
fn qw_load(i: u32) -> u32 {
  return w[i];
}
#endif
