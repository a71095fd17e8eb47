// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "logitbounds",
    products: [
        .library(name: "Numerics", targets: ["Numerics"]),
        .library(name: "Theory", targets: ["Theory"]),
        .library(name: "Counterexamples", targets: ["Counterexamples"]),
        .library(name: "Harness", targets: ["Harness"]),
        .library(name: "ModelFiles", targets: ["ModelFiles"]),
        .library(name: "Plots", targets: ["Plots"]),
        .library(name: "Tightness", targets: ["Tightness"]),
        .library(name: "Distill", targets: ["Distill"]),
        .executable(name: "logitbounds", targets: ["logitbounds"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CLAPACKE", pkgConfig: "lapacke",
                       providers: [.apt(["liblapacke-dev"])]),
        .systemLibrary(name: "CGMP", pkgConfig: "gmp",
                       providers: [.apt(["libgmp-dev"])]),
        .systemLibrary(name: "CMPFR", pkgConfig: "mpfr",
                       providers: [.apt(["libmpfr-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMalloc"),
        .target(name: "Numerics", dependencies: ["CBLAS", "CLAPACKE", "CGMP", "CMPFR", "CMalloc"], exclude: ["README.md"]),
        .target(name: "Theory", dependencies: ["Numerics"], exclude: ["README.md"]),
        .target(name: "ModelFiles", dependencies: ["Theory", "CZlib"], exclude: ["README.md"]),
        .target(name: "Plots", dependencies: ["Numerics"], exclude: ["README.md"]),
        .target(name: "Counterexamples", dependencies: ["Theory", "ModelFiles", "Plots"], exclude: ["README.md"]),
        .target(name: "Tightness", dependencies: ["Theory", "Harness", "ModelFiles", "Plots"], exclude: ["README.md"]),
        .target(name: "Distill", dependencies: ["Theory", "ModelFiles", "Plots"], exclude: ["README.md"]),
        .target(name: "Harness", dependencies: ["Theory"], exclude: ["README.md"]),
        .executableTarget(name: "logitbounds", dependencies: [
            "Numerics", "Theory", "Counterexamples", "Harness", "ModelFiles", "Plots", "Tightness", "Distill",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], exclude: ["README.md"]),
        .executableTarget(name: "FuzzModelFiles", dependencies: ["ModelFiles"]),
        .testTarget(name: "NumericsTests", dependencies: ["Numerics"]),
        .testTarget(name: "TheoryTests", dependencies: ["Theory", "Numerics"]),
        .testTarget(name: "HarnessTests", dependencies: ["Harness", "Theory", "Numerics", "ModelFiles"]),
        .testTarget(name: "ModelFileTests", dependencies: ["ModelFiles", "Theory", "Numerics"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "DistillTests", dependencies: ["Distill", "Plots", "Theory", "Numerics"]),
        .testTarget(name: "TightnessTests", dependencies: ["Tightness", "Plots", "Theory", "Numerics"]),
        .testTarget(name: "CounterexampleTests", dependencies: ["Counterexamples", "ModelFiles", "Theory", "Numerics"]),
    ]
)
