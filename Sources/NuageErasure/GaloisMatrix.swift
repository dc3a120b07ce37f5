/// A dense row-major matrix over GF(2^8), just big enough for encoding and decoding matrices.
struct GaloisMatrix: Equatable {
    let rows: Int
    let columns: Int
    var values: [UInt8]

    init(rows: Int, columns: Int, values: [UInt8]? = nil) {
        self.rows = rows
        self.columns = columns
        self.values = values ?? [UInt8](repeating: 0, count: rows * columns)
        precondition(self.values.count == rows * columns)
    }

    static func identity(_ size: Int) -> GaloisMatrix {
        var m = GaloisMatrix(rows: size, columns: size)
        for i in 0..<size { m[i, i] = 1 }
        return m
    }

    subscript(row: Int, column: Int) -> UInt8 {
        get { values[row * columns + column] }
        set { values[row * columns + column] = newValue }
    }

    func row(_ r: Int) -> ArraySlice<UInt8> { values[(r * columns)..<((r + 1) * columns)] }

    /// The matrix made of the given rows, in order.
    func selecting(rows selected: [Int]) -> GaloisMatrix {
        GaloisMatrix(rows: selected.count, columns: columns, values: selected.flatMap { Array(row($0)) })
    }

    static func * (a: GaloisMatrix, b: GaloisMatrix) -> GaloisMatrix {
        precondition(a.columns == b.rows)
        var out = GaloisMatrix(rows: a.rows, columns: b.columns)
        for r in 0..<a.rows {
            for c in 0..<b.columns {
                var acc: UInt8 = 0
                for i in 0..<a.columns { acc ^= GaloisField.mul(a[r, i], b[i, c]) }
                out[r, c] = acc
            }
        }
        return out
    }

    /// The inverse by Gauss-Jordan elimination, or nil when the matrix is singular.
    func inverted() -> GaloisMatrix? {
        precondition(rows == columns)
        var a = self
        var inv = GaloisMatrix.identity(rows)
        for col in 0..<columns {
            guard let pivot = (col..<rows).first(where: { a[$0, col] != 0 }) else { return nil }
            if pivot != col {
                for c in 0..<columns {
                    a.values.swapAt(pivot * columns + c, col * columns + c)
                    inv.values.swapAt(pivot * columns + c, col * columns + c)
                }
            }
            let scale = GaloisField.inv(a[col, col])
            for c in 0..<columns {
                a[col, c] = GaloisField.mul(a[col, c], scale)
                inv[col, c] = GaloisField.mul(inv[col, c], scale)
            }
            for r in 0..<rows where r != col && a[r, col] != 0 {
                let factor = a[r, col]
                for c in 0..<columns {
                    a[r, c] ^= GaloisField.mul(factor, a[col, c])
                    inv[r, c] ^= GaloisField.mul(factor, inv[col, c])
                }
            }
        }
        return inv
    }
}
