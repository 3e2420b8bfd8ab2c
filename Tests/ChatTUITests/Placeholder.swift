import XCTest
final class ChatTUITestsPlaceholder: XCTestCase { func testNothing() {} }
