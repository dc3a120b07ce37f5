import NuageCore
