# Debian packages with CPack (`cmake --build build --target package`, or
# `cpack --config build/CPackConfig.cmake`), written to build/package/:
#   taala      taalad, taalactl, docs, the systemd unit, the flag file
#   taala-dev  the client library, its headers and CMake package files
# Runtime dependencies come from dpkg-shlibdeps (Debian's own library
# packages). docs/deploy.md describes what the packages install and do.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME taala)
set(CPACK_PACKAGE_VENDOR "taala")
set(CPACK_PACKAGE_CONTACT "taala maintainers <taala@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "taala distributed lock service")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/package)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL taala dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_TAALA_PACKAGE_NAME taala)
set(CPACK_DEBIAN_TAALA_DESCRIPTION
  "taala distributed lock service\n taalad serves named locks over gRPC: sessions with leases, FIFO waiters,\n fencing tokens, shared/exclusive modes, semaphores, deadlock detection and\n a write-ahead log. taalactl inspects and operates it.")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME taala-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_DESCRIPTION
  "taala client library (C++)\n The static client library, its headers and CMake package files\n (find_package(taala)).")
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "libgrpc++-dev, libprotobuf-dev, libabsl-dev")
include(CPack)
