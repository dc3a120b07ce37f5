@_exported import NuageLocalS3
