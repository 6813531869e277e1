# Debian packages with CPack (`cmake --build build --target package`, or
# `cpack --config build/CPackConfig.cmake`), written to build/package/:
#   taala      taalad, taalactl, docs, the systemd unit, the flag file
#   taala-dev  the client library, its headers and CMake package files
# Runtime dependencies come from dpkg-shlibdeps (Debian's own library
# packages). docs/deploy.md describes what the packages install and do.
# What the taala package installs besides the binaries (server/ and tools/
# install taalad and taalactl): docs, man pages, bash completion, the
# systemd unit, sysusers.d and tmpfiles.d entries, the default flag file.
# Paths are absolute where Debian wants them outside /usr.
set(TAALA_DEPLOY_DIR ${PROJECT_SOURCE_DIR}/deploy)
file(GLOB TAALA_DOC_FILES ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${TAALA_DOC_FILES} ${PROJECT_SOURCE_DIR}/README.md
  DESTINATION share/doc/taala COMPONENT taala)

# The maintainer (control file and changelog). A host lintian accepts
# (taala@localhost is E: bogus-mail-host); the project has no domain yet:
# example.org is reserved for exactly that (RFC 2606).
set(TAALA_MAINTAINER "taala maintainers <maintainers@taala.example.org>")
# Debian policy 12.5 and 12.7: every package has /usr/share/doc/PKG/
# copyright (machine-readable, DEP-5) and, native, changelog.gz; man pages
# are gzipped (12.1). -9n: no name or time in the gzip header, so the same
# inputs give the same .deb bytes.
find_program(GZIP gzip REQUIRED)
set(TAALA_DEBIAN_OUT ${CMAKE_BINARY_DIR}/debian)
configure_file(${TAALA_DEPLOY_DIR}/debian/changelog.in
  ${TAALA_DEBIAN_OUT}/changelog @ONLY)
add_custom_command(OUTPUT ${TAALA_DEBIAN_OUT}/changelog.gz
  COMMAND ${GZIP} -9nf --keep ${TAALA_DEBIAN_OUT}/changelog
  DEPENDS ${TAALA_DEBIAN_OUT}/changelog
  COMMENT "changelog.gz for the Debian packages" VERBATIM)
add_custom_target(taala_debian_docs ALL DEPENDS ${TAALA_DEBIAN_OUT}/changelog.gz)
foreach(component_doc taala:taala dev:taala-dev)
  string(REPLACE ":" ";" component_doc ${component_doc})
  list(GET component_doc 0 component)
  list(GET component_doc 1 doc_dir)
  install(FILES ${TAALA_DEPLOY_DIR}/debian/copyright
    ${TAALA_DEBIAN_OUT}/changelog.gz
    DESTINATION share/doc/${doc_dir} COMPONENT ${component})
endforeach()
install(FILES ${TAALA_DEPLOY_DIR}/debian/lintian-overrides
  DESTINATION share/lintian/overrides RENAME taala COMPONENT taala)
install(FILES ${TAALA_DEPLOY_DIR}/bash-completion/taalactl
  DESTINATION share/bash-completion/completions COMPONENT taala)
install(FILES ${TAALA_DEPLOY_DIR}/taalad.service
  DESTINATION lib/systemd/system COMPONENT taala)
install(FILES ${TAALA_DEPLOY_DIR}/debian/sysusers.conf
  DESTINATION lib/sysusers.d RENAME taala.conf COMPONENT taala)
install(FILES ${TAALA_DEPLOY_DIR}/debian/tmpfiles.conf
  DESTINATION lib/tmpfiles.d RENAME taala.conf COMPONENT taala)
install(FILES ${TAALA_DEPLOY_DIR}/taalad.flags
  DESTINATION /etc/taala COMPONENT taala)

# Man pages from the binaries' own --help (help2man), rebuilt with them.
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(man_dir ${CMAKE_BINARY_DIR}/man)
  add_custom_command(OUTPUT ${man_dir}/taalad.8 ${man_dir}/taalad.8.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${man_dir}
    COMMAND ${HELP2MAN} --no-info --section=8
      --name=taala\ distributed\ lock\ service\ daemon
      --version-string=${PROJECT_VERSION}
      --include=${TAALA_DEPLOY_DIR}/man/taalad.h2m
      --output=${man_dir}/taalad.8 $<TARGET_FILE:taalad>
    COMMAND ${GZIP} -9nf --keep ${man_dir}/taalad.8
    DEPENDS taalad ${TAALA_DEPLOY_DIR}/man/taalad.h2m
    COMMENT "Man page taalad.8 from taalad --help" VERBATIM)
  add_custom_command(OUTPUT ${man_dir}/taalactl.1 ${man_dir}/taalactl.1.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${man_dir}
    COMMAND ${HELP2MAN} --no-info --section=1
      --name=command-line\ tool\ for\ the\ taala\ lock\ service
      --version-string=${PROJECT_VERSION}
      --include=${TAALA_DEPLOY_DIR}/man/taalactl.h2m
      --output=${man_dir}/taalactl.1 $<TARGET_FILE:taalactl>
    COMMAND ${GZIP} -9nf --keep ${man_dir}/taalactl.1
    DEPENDS taalactl ${TAALA_DEPLOY_DIR}/man/taalactl.h2m
    COMMENT "Man page taalactl.1 from taalactl --help" VERBATIM)
  add_custom_target(taala_man ALL
    DEPENDS ${man_dir}/taalad.8.gz ${man_dir}/taalactl.1.gz)
  install(FILES ${man_dir}/taalad.8.gz DESTINATION share/man/man8
    COMPONENT taala)
  install(FILES ${man_dir}/taalactl.1.gz DESTINATION share/man/man1
    COMPONENT taala)
else()
  message(WARNING "help2man not found: the package has no man pages")
  add_custom_target(taala_man)
endif()
# Everything the packages install: tests/deploy/package.sh builds it
# before cpack (which packs whatever is built, and fails on what is not).
add_custom_target(taala_package_inputs DEPENDS
  taalad taalactl taala_man taala_debian_docs taala_client taala_common taala_proto)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME taala)
set(CPACK_PACKAGE_VENDOR "taala")
set(CPACK_PACKAGE_CONTACT "${TAALA_MAINTAINER}")
# No CPACK_PACKAGE_DESCRIPTION_SUMMARY: CPackDeb would prepend it to every
# component's description (taala-dev too); each description's first line is
# its own summary instead.
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
  "distributed lock service: daemon and command-line tool\ntaalad serves named locks over gRPC: sessions with leases, FIFO waiters,\nfencing tokens, shared/exclusive modes, semaphores, deadlock detection and\na write-ahead log. taalactl inspects and operates it.")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME taala-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_DESCRIPTION
  "C++ client library for the taala lock service\nThe static client library, its headers and CMake package files\n(find_package(taala)).")
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "libgrpc++-dev, libprotobuf-dev, libabsl-dev")
# Maintainer scripts: the user and data directory on install, no start
# (deploy/debian/postinst says why); the flag file is a conffile.
set(CPACK_DEBIAN_TAALA_PACKAGE_CONTROL_EXTRA
  "${TAALA_DEPLOY_DIR}/debian/postinst;${TAALA_DEPLOY_DIR}/debian/prerm;${TAALA_DEPLOY_DIR}/debian/postrm;${TAALA_DEPLOY_DIR}/debian/conffiles")
set(CPACK_DEBIAN_TAALA_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# useradd/groupadd (postinst without systemd-sysusers).
set(CPACK_DEBIAN_TAALA_PACKAGE_DEPENDS "passwd")
include(CPack)
