# `cmake --install BUILD [--prefix P]` (make install PREFIX=P): the two programs, the manual
# page, the docs, the example configs and the systemd unit.
include(GNUInstallDirs)

install(TARGETS sluice sluice-fn RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# sluice(1), written by the built sluice (`sluice config man`) from its --help texts and tables.
set(SL_MAN_PAGE ${CMAKE_BINARY_DIR}/sluice.1)
add_custom_command(OUTPUT ${SL_MAN_PAGE}
                   COMMAND ${CMAKE_COMMAND} -DSLUICE=$<TARGET_FILE:sluice> -DOUT=${SL_MAN_PAGE}
                           -P ${PROJECT_SOURCE_DIR}/cmake/man.cmake
                   DEPENDS sluice ${PROJECT_SOURCE_DIR}/cmake/man.cmake
                   COMMENT "Writing sluice.1" VERBATIM)
add_custom_target(sluice_man ALL DEPENDS ${SL_MAN_PAGE})
install(FILES ${SL_MAN_PAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

install(FILES README.md LICENSE CHANGELOG.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
file(GLOB SL_DOC_PAGES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${SL_DOC_PAGES} DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)
install(DIRECTORY config/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# packaging/sluice.service runs /usr/local/bin/sluice (the default prefix); the installed copy
# runs the sluice of the prefix given at install time.
set(SL_UNIT_DIR lib/systemd/system CACHE STRING "Where the systemd unit goes, under the prefix")
install(CODE "
  set(unit_dir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${SL_UNIT_DIR}\")
  file(READ \"${PROJECT_SOURCE_DIR}/packaging/sluice.service\" unit)
  string(REPLACE \"/usr/local/bin/sluice\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/sluice\" unit \"\${unit}\")
  message(STATUS \"Installing: \${unit_dir}/sluice.service\")
  file(MAKE_DIRECTORY \"\${unit_dir}\")
  file(WRITE \"\${unit_dir}/sluice.service\" \"\${unit}\")
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${unit_dir}/sluice.service\")
")
