//===- MarkDeviceIO.cpp - Graphs whose data only CUDA calls touch ---------===//
//
// moe-mark-device-io: on bufferized code, decides whether the graph can run
// on device buffers as they are (moe_model_run_device without staging):
// every op in the function must be one that leaves buffer contents alone -
// allocation, deallocation, views and metadata, scalar arithmetic, the
// runtime calls' pointer plumbing, and the calls to the CUDA runtime
// themselves. Anything that reads or writes data on the host (loads,
// stores, copies, loops, linalg) keeps the graph on the staged path. A
// whitelist, so that an op nobody thought of counts as touching data.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToRuntime/MoEToRuntime.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEMARKDEVICEIOPASS
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;

namespace {

/// Runtime calls a device-resident graph may make: the CUDA entry points
/// (which take device pointers) and the status plumbing.
bool isDeviceCall(LLVM::CallOp call) {
  std::optional<StringRef> callee = call.getCallee();
  return callee && (callee->starts_with("moe_cuda_cc_") ||
                    *callee == "moe_cuda_last_error" ||
                    *callee == "moe_cc_check_status_detail");
}

/// Ops that never touch the contents of a buffer.
bool leavesDataAlone(Operation *op) {
  if (auto call = dyn_cast<LLVM::CallOp>(op))
    return isDeviceCall(call);
  if (isa<arith::ArithDialect>(op->getDialect()))
    return true;
  return isa<func::ReturnOp, memref::AllocOp, memref::DeallocOp,
             memref::ExpandShapeOp, memref::CollapseShapeOp,
             memref::ReinterpretCastOp, memref::CastOp, memref::DimOp,
             memref::ExtractAlignedPointerAsIndexOp,
             memref::ExtractStridedMetadataOp, memref::GetGlobalOp,
             scf::IfOp, scf::YieldOp, LLVM::IntToPtrOp, LLVM::AddressOfOp,
             LLVM::ZeroOp, LLVM::ConstantOp>(op);
}

struct MoEMarkDeviceIOPass
    : mlir::moe::impl::MoEMarkDeviceIOPassBase<MoEMarkDeviceIOPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    module->removeAttr("moe.device_io");
    auto func = module.lookupSymbol<func::FuncOp>(function);
    if (!func || func.isExternal())
      return;
    // Integer inputs could be indices that reach the kernels unchecked.
    for (Type type : func.getArgumentTypes())
      if (auto memref = dyn_cast<MemRefType>(type);
          !memref || !isa<FloatType>(memref.getElementType()))
        return;
    bool touched = func.walk([&](Operation *op) {
                         return op == func || leavesDataAlone(op)
                                    ? WalkResult::advance()
                                    : WalkResult::interrupt();
                       })
                       .wasInterrupted();
    if (!touched)
      module->setAttr("moe.device_io", UnitAttr::get(&getContext()));
  }
};

} // namespace
