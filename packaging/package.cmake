# Install rules and the Debian package (included by the top-level
# CMakeLists.txt).  `cpack -G DEB` in the build directory makes
# escalated_<version>_<arch>.deb; packaging/test-deb.sh installs and starts it.
# Migrations are compiled into the binary, so no SQL file is installed.
set(ESC_PKG ${CMAKE_SOURCE_DIR}/packaging)

install(TARGETS escalated RUNTIME DESTINATION sbin)
# escalated.8.gz: daemon/CMakeLists.txt generates it (target man)
install(FILES ${CMAKE_BINARY_DIR}/escalated.8.gz DESTINATION share/man/man8)
install(FILES ${ESC_PKG}/escalated.service DESTINATION lib/systemd/system)
install(FILES ${ESC_PKG}/escalated.env DESTINATION /etc/escalated)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${ESC_PKG}/debian/copyright
        DESTINATION share/doc/escalated)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION share/doc/escalated
        FILES_MATCHING PATTERN "*.md" PATTERN "*.yaml")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME escalated)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "escalated maintainers <root@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "three-tier complaint escalation daemon")
set(CPACK_PACKAGE_DESCRIPTION "escalated runs a three-tier complaint escalation process over HTTP, with its state in PostgreSQL: tickets, SLA deadlines and breaches, webhooks and reports.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# the libraries' packages, from the binary's ELF dependencies (dpkg-shlibdeps)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# stripped, as Debian ships binaries (the build directory keeps the symbols)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql (>= 15), postgresql-client")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${ESC_PKG}/debian/postinst ${ESC_PKG}/debian/prerm ${ESC_PKG}/debian/postrm
    ${ESC_PKG}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# /etc/escalated is absolute on purpose (a conffile, not under the prefix)
set(CPACK_WARN_ON_ABSOLUTE_INSTALL_DESTINATION OFF)
include(CPack)
