# Run by `cmake --install` and by cpack (install(SCRIPT) in packaging/CMakeLists.txt): installs
# what depends on the prefix chosen at install time, which cpack sets to /usr whatever the build
# was configured with. /etc belongs to the prefix /usr, PREFIX/etc to any other (GNUInstallDirs'
# rule). Expects SASHA_SOURCE_DIR, SASHA_BINARY_DIR and SASHA_BINDIR (relative) to be set.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(SYSCONFDIR "/etc")
else()
  set(SYSCONFDIR "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(BINDIR "${CMAKE_INSTALL_PREFIX}/${SASHA_BINDIR}")
configure_file("${SASHA_SOURCE_DIR}/packaging/sashad.service.in" "${SASHA_BINARY_DIR}/packaging/sashad.service" @ONLY)
file(INSTALL "${SASHA_BINARY_DIR}/packaging/sashad.service" DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")

# The sample configuration: a package ships it (a conffile); a plain install never replaces the
# operator's file.
set(config "${SYSCONFDIR}/sasha/sashad.toml")
if("$ENV{DESTDIR}" STREQUAL "" AND EXISTS "${config}")
  message(STATUS "Kept: ${config} (the sample is resources/sashad.toml)")
else()
  file(INSTALL "${SASHA_SOURCE_DIR}/resources/sashad.toml" DESTINATION "${SYSCONFDIR}/sasha"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endif()
