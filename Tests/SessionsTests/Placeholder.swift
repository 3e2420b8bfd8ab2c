import XCTest
final class SessionsTestsPlaceholder: XCTestCase { func testNothing() {} }
