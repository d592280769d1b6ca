//===- MoEDialect.td - The moe dialect ---------------------*- tablegen -*-===//
//
// The dialect that states Mixture-of-Experts layers, first as one op per
// layer (as raised from an imported graph), then as the decomposed steps
// the optimizing passes and the runtimes work on.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEDIALECT_TD
#define MOE_DIALECT_MOE_IR_MOEDIALECT_TD

include "mlir/IR/OpBase.td"

def MoE_Dialect : Dialect {
  let name = "moe";
  let cppNamespace = "::mlir::moe";
  let summary = "Mixture-of-Experts layers and their decomposed kernels";
  let description = [{
    The `moe` dialect sits between the ONNX importer and the runtimes.

    * `moe.layer` states one whole MoE layer: the router, the routing rule
      (`#moe.routing`), the stacked expert FFN weights and their activation
      (`#moe.activation`), and optional shared experts. The raising pass
      produces it from imported graphs; the ONNX Runtime `com.microsoft.MoE`
      op imports straight to it.
    * `moe.route`, `moe.permute`, `moe.grouped_matmul` and `moe.combine`
      are the steps a layer decomposes into. They are what the optimizing
      passes fuse and what the CPU and CUDA runtimes implement.

    `convert-moe-to-linalg` lowers every op of this dialect to upstream
    linalg/tensor/arith/math in the plainest correct way; that lowering is
    the oracle every optimized path is tested against.

    Conventions: activations are `[T, d]` (T tokens, possibly dynamic),
    weights are stored `[in, out]` so that `x @ W` is the projection
    (router `[d, E]`, expert up/gate `[E, d, f]`, expert down `[E, f, d]`),
    expert ids are signless integers in `[0, E)`.
  }];
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
    /// Registers the attributes (defined in MoEAttrs.cpp).
    void registerAttributes();
  }];
}

class MoE_Op<string mnemonic, list<Trait> traits = []>
    : Op<MoE_Dialect, mnemonic, traits>;

#endif // MOE_DIALECT_MOE_IR_MOEDIALECT_TD
