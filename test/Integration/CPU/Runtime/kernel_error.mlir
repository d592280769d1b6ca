// A kernel that fails in compiled code (here moe.permute given an expert id
// outside [0, E)) does not abort the process: the status reaches the
// runtime's error channel (moe_cc_check_status), where moe_cc_take_error
// (the model C API's check after each run) finds it.
// RUN: moe-opt %s --moe-runtime-to-llvm | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_c_runner_utils,%moe_runtime_lib | FileCheck %s
// CHECK: error recorded: 1
// CHECK-NEXT: cleared: 1

llvm.func @printI64(i64)
llvm.func @printNewline()
llvm.func @printString(!llvm.ptr)
llvm.func @moe_cc_take_error() -> !llvm.ptr
llvm.mlir.global internal constant @recorded("error recorded: \00")
llvm.mlir.global internal constant @cleared("cleared: \00")

func.func @permute(%x: tensor<2x4xf32>, %ids: tensor<2x1xi32>) -> tensor<3xi32> {
  %rows, %assign, %offsets, %inverse = moe.permute %x, %ids
      : tensor<2x4xf32>, tensor<2x1xi32>
      -> tensor<2x4xf32>, tensor<2xi32>, tensor<3xi32>, tensor<2x1xi32>
  return %offsets : tensor<3xi32>
}

func.func @main() {
  %x = arith.constant dense<1.0> : tensor<2x4xf32>
  %ids = arith.constant dense<[[0], [7]]> : tensor<2x1xi32>
  %offsets = call @permute(%x, %ids) : (tensor<2x4xf32>, tensor<2x1xi32>) -> tensor<3xi32>
  %zero = llvm.mlir.zero : !llvm.ptr
  %e = llvm.call @moe_cc_take_error() : () -> !llvm.ptr
  %some = llvm.icmp "ne" %e, %zero : !llvm.ptr
  %r = llvm.mlir.addressof @recorded : !llvm.ptr
  llvm.call @printString(%r) : (!llvm.ptr) -> ()
  %v = arith.extui %some : i1 to i64
  llvm.call @printI64(%v) : (i64) -> ()
  llvm.call @printNewline() : () -> ()
  // Taking the error clears it.
  %again = llvm.call @moe_cc_take_error() : () -> !llvm.ptr
  %none = llvm.icmp "eq" %again, %zero : !llvm.ptr
  %c = llvm.mlir.addressof @cleared : !llvm.ptr
  llvm.call @printString(%c) : (!llvm.ptr) -> ()
  %w = arith.extui %none : i1 to i64
  llvm.call @printI64(%w) : (i64) -> ()
  llvm.call @printNewline() : () -> ()
  return
}
