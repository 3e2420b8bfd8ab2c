import Foundation

/// A UTC calendar date and time (proleptic Gregorian), computed with integer arithmetic
/// so that formatting needs no locale, time zone database or shared formatter.
struct CivilTime: Equatable {
    var year, month, day, hour, minute, second: Int

    init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        (self.year, self.month, self.day, self.hour, self.minute, self.second) = (year, month, day, hour, minute, second)
    }

    /// The UTC time of `date`, truncated to the second.
    init(_ date: Date) {
        self.init(unixSeconds: Int64(floor(date.timeIntervalSince1970)))
    }

    init(unixSeconds s: Int64) {
        let days = s >= 0 ? s / 86_400 : (s - 86_399) / 86_400
        let secs = Int(s - days * 86_400)
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        self.init(
            year: Int(yoe + era * 400 + (m <= 2 ? 1 : 0)), month: Int(m), day: Int(d),
            hour: secs / 3600, minute: secs % 3600 / 60, second: secs % 60)
    }

    /// Seconds since 1970-01-01T00:00:00Z (Hinnant's days_from_civil).
    var unixSeconds: Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64(month > 2 ? month - 3 : month + 9)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return days * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// "2026-11-27T05:03:12Z": HTML's `datetime` allows at most three fraction digits, so none.
    var htmlDatetime: String {
        String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", year, month, day, hour, minute, second)
    }

    /// "2026-11-27 05:03:12 UTC" (or without seconds) for transcripts and tables.
    func display(seconds: Bool = true) -> String {
        seconds
            ? String(format: "%04d-%02d-%02d %02d:%02d:%02d UTC", year, month, day, hour, minute, second)
            : String(format: "%04d-%02d-%02d %02d:%02d UTC", year, month, day, hour, minute)
    }
}

/// ISO-8601 / RFC 3339 timestamps for session files.
///
/// Writing keeps every digit of the `Date`, so a conversation read back compares equal to
/// the one that was saved (a millisecond formatter would change every timestamp on each
/// save). `Date` stores seconds since 2001-01-01 as a Double; the fraction written is the
/// shortest decimal that reads back as that same Double, and parsing rebuilds it from the
/// same digits. Dates before 2001 (never written by the app) keep microseconds.
enum ISODate {
    /// Seconds from 1970 to 2001, `Date`'s reference date.
    static let referenceOffset: Int64 = 978_307_200

    static func format(_ date: Date) -> String {
        // Year 1 to about 9900: four-digit years, and no overflow converting to Int64.
        let ref =
            date.timeIntervalSinceReferenceDate.isFinite
            ? min(max(date.timeIntervalSinceReferenceDate, -63_113_000_000), 250_000_000_000) : 0
        let whole = floor(ref)
        let c = CivilTime(unixSeconds: Int64(whole) + referenceOffset)
        var s = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", c.year, c.month, c.day, c.hour, c.minute, c.second)
        let decimal = "\(ref)"
        if ref >= 0, !decimal.contains("e"), let dot = decimal.firstIndex(of: ".") {
            let fraction = decimal[decimal.index(after: dot)...]
            if fraction.contains(where: { $0 != "0" }) { s += "." + fraction }
        } else if ref != whole {
            let micros = min(Int(((ref - whole) * 1e6).rounded()), 999_999)
            s += String(format: ".%06d", micros)
        }
        return s + "Z"
    }

    /// Accepts `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; nil for anything else.
    static func parse(_ string: String) -> Date? {
        let b = Array(string.utf8)
        var i = 0
        func number(_ digits: Int) -> Int? {
            guard i + digits <= b.count else { return nil }
            var v = 0
            for k in i..<(i + digits) {
                guard (48...57).contains(b[k]) else { return nil }
                v = v * 10 + Int(b[k] - 48)
            }
            i += digits
            return v
        }
        func expect(_ chars: String) -> Bool {
            guard i < b.count, chars.utf8.contains(b[i]) else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            expect("Tt "), let hour = number(2), expect(":"), let minute = number(2), expect(":"),
            let second = number(2),
            (1...12).contains(month), (1...CivilTime.daysIn(month: month, year: year)).contains(day),
            hour < 24, minute < 60, second <= 60
        else { return nil }
        var fraction = ""
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < b.count, (48...57).contains(b[i]) { i += 1 }
            guard i > start, i - start <= 30 else { return nil }
            fraction = String(decoding: b[start..<i], as: UTF8.self)
        }
        var offset = 0
        if expect("Zz") {
        } else if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let oh = number(2), expect(":"), let om = number(2), oh < 24, om < 60 else { return nil }
            offset = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let civil = CivilTime(year: year, month: month, day: day, hour: hour, minute: minute, second: min(second, 59))
        let seconds = civil.unixSeconds - Int64(offset) - referenceOffset
        if fraction.isEmpty { return Date(timeIntervalSinceReferenceDate: Double(seconds)) }
        if seconds >= 0, let t = Double("\(seconds).\(fraction)") { return Date(timeIntervalSinceReferenceDate: t) }
        return Date(timeIntervalSinceReferenceDate: Double(seconds) + (Double("0." + fraction) ?? 0))
    }
}
